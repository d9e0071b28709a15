#include "services/hybrid/embed/deterministic_math.h"

#include <cmath>
#include <cstdint>

namespace engram::hybrid {

double DeterministicLog(double x) {
  if (!(x > 0) || !std::isfinite(x)) return 0;
  // x = m * 2^e with m in [sqrt(1/2), sqrt(2)), so that s below stays small.
  int e = 0;
  double m = std::frexp(x, &e);  // m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m *= 2;
    e -= 1;
  }
  // ln(m) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1), |s| < 0.1716.
  const double s = (m - 1) / (m + 1);
  const double s2 = s * s;
  double term = s;
  double sum = 0;
  for (int k = 1; k <= 41; k += 2) {  // s^43 < 1e-32: far below double precision
    sum += term / k;
    term *= s2;
  }
  constexpr double kLn2 = 0.69314718055994530942;
  return e * kLn2 + 2 * sum;
}

double DeterministicExp(double x) {
  if (std::isnan(x)) return x;
  if (x > 709.0) return HUGE_VAL;
  if (x < -745.0) return 0;
  // x = k ln2 + r, |r| <= ln2 / 2 (ln2 split in two so that k * kLn2Hi is exact).
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kInvLn2 = 1.44269504088896338700e+00;
  const double k = std::nearbyint(x * kInvLn2);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  // e^r by its Taylor series: |r| < 0.347, r^22 / 22! < 1e-32.
  double term = 1;
  double sum = 1;
  for (int i = 1; i <= 22; ++i) {
    term = term * r / i;
    sum += term;
  }
  return std::ldexp(sum, static_cast<int>(k));
}

double DeterministicTanh(double x) {
  if (std::isnan(x)) return x;
  if (x > 20) return 1;
  if (x < -20) return -1;
  const double ax = x < 0 ? -x : x;
  double t;
  if (ax < 0.5) {
    // tanh by its odd series would converge slowly; (e^2x - 1) / (e^2x + 1) loses digits near 0,
    // so use e^2x - 1 = 2 sinh(x) e^x with sinh from its series (|x| < 0.5: x^29 / 29! < 1e-40).
    const double x2 = ax * ax;
    double term = ax;
    double sinh = ax;
    for (int i = 3; i <= 29; i += 2) {
      term = term * x2 / ((i - 1) * i);
      sinh += term;
    }
    const double cosh = std::sqrt(1 + sinh * sinh);
    t = sinh / cosh;
  } else {
    const double e = DeterministicExp(2 * ax);
    t = (e - 1) / (e + 1);
  }
  return x < 0 ? -t : t;
}

void DeterministicSinCos(double x, double* sin_x, double* cos_x) {
  // x = k pi/2 + r, |r| <= pi/4, with pi/2 in three parts (Cody-Waite) so r stays exact enough
  // for |x| <= 1e5.
  constexpr double kPio2_1 = 1.57079632673412561417e+00;
  constexpr double kPio2_2 = 6.07710050650619224932e-11;
  constexpr double kPio2_3 = 2.02226624879595063154e-21;
  constexpr double kTwoOverPi = 6.36619772367581382433e-01;
  const double k = std::nearbyint(x * kTwoOverPi);
  const double r = ((x - k * kPio2_1) - k * kPio2_2) - k * kPio2_3;
  const double r2 = r * r;
  // Taylor series of sin and cos at |r| <= 0.786: r^27 / 27! < 1e-30.
  double s_term = r, s = r, c_term = 1, c = 1;
  for (int i = 2; i <= 26; i += 2) {
    c_term = -c_term * r2 / ((i - 1) * i);
    c += c_term;
    s_term = -s_term * r2 / (i * (i + 1));
    s += s_term;
  }
  switch (static_cast<int64_t>(k) & 3) {
    case 0: *sin_x = s; *cos_x = c; break;
    case 1: *sin_x = c; *cos_x = -s; break;
    case 2: *sin_x = -s; *cos_x = -c; break;
    default: *sin_x = -c; *cos_x = s; break;
  }
}

}  // namespace engram::hybrid
