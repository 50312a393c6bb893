#ifndef DDPTRAIN_CPNG_SHIM_H
#define DDPTRAIN_CPNG_SHIM_H
#include <png.h>
/* PNG_IMAGE_VERSION and the format macros do not import into Swift. */
static inline unsigned int ddp_png_image_version(void) { return PNG_IMAGE_VERSION; }
static inline unsigned int ddp_png_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline unsigned int ddp_png_format_gray(void) { return PNG_FORMAT_GRAY; }
static inline size_t ddp_png_image_size(png_imagep image) { return PNG_IMAGE_SIZE(*image); }
#endif
