#ifndef DDPTRAIN_CPNG_SHIM_H
#define DDPTRAIN_CPNG_SHIM_H
#include <png.h>
/* PNG_IMAGE_VERSION and the format macros do not import into Swift. */
static inline unsigned int ddp_png_image_version(void) { return PNG_IMAGE_VERSION; }
static inline unsigned int ddp_png_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline unsigned int ddp_png_format_gray(void) { return PNG_FORMAT_GRAY; }
static inline unsigned int ddp_png_format_rgba(void) { return PNG_FORMAT_RGBA; }
static inline unsigned int ddp_png_flag_alpha(void) { return PNG_FORMAT_FLAG_ALPHA; }
static inline unsigned int ddp_png_flag_linear(void) { return PNG_FORMAT_FLAG_LINEAR; }
static inline unsigned int ddp_png_flag_colour(void) { return PNG_FORMAT_FLAG_COLOR; }
#endif
