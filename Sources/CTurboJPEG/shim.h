#ifndef DDPTRAIN_CTURBOJPEG_SHIM_H
#define DDPTRAIN_CTURBOJPEG_SHIM_H
#include <turbojpeg.h>
#endif
