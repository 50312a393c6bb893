#ifndef DDPTRAIN_COPENBLAS_SHIM_H
#define DDPTRAIN_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
