// Floating-point helpers whose results are bit-identical on every IEEE-754 machine.
//
// libm's log(), exp(), tanh(), sin() and cos() may differ in the last bit between C libraries, versions and CPUs; embeddings must
// not. These functions use only +, -, *, / and frexp/ldexp (all exactly specified by IEEE 754
// when compiled without FMA contraction: the embed target builds with -ffp-contract=off).
#pragma once

namespace engram::hybrid {

// Natural logarithm of a finite x > 0, accurate to a few ulp. Returns 0 for x <= 0 or non-finite
// x (callers only pass counts >= 1 and probabilities in (0, 1]).
double DeterministicLog(double x);

// e^x, accurate to a few ulp for |x| <= 700; 0 below -745, +inf above 709.
double DeterministicExp(double x);

// tanh(x), accurate to a few ulp (|x| > 20 gives +-1).
double DeterministicTanh(double x);

// sin(x) and cos(x) for |x| <= 1e5, accurate to a few ulp (the sentence encoder's position
// signal needs |x| < 128).
void DeterministicSinCos(double x, double* sin_x, double* cos_x);

}  // namespace engram::hybrid
