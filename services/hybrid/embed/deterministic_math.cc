#include "services/hybrid/embed/deterministic_math.h"

#include <cmath>

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

}  // namespace engram::hybrid
