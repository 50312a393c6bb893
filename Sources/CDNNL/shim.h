#ifndef DDPTRAIN_CDNNL_SHIM_H
#define DDPTRAIN_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>
/* oneDNN's argument macros alias one another and do not import into Swift. */
static inline int ddp_dnnl_arg_src(void) { return DNNL_ARG_SRC; }
static inline int ddp_dnnl_arg_weights(void) { return DNNL_ARG_WEIGHTS; }
static inline int ddp_dnnl_arg_bias(void) { return DNNL_ARG_BIAS; }
static inline int ddp_dnnl_arg_dst(void) { return DNNL_ARG_DST; }
static inline int ddp_dnnl_arg_diff_src(void) { return DNNL_ARG_DIFF_SRC; }
static inline int ddp_dnnl_arg_diff_weights(void) { return DNNL_ARG_DIFF_WEIGHTS; }
static inline int ddp_dnnl_arg_diff_bias(void) { return DNNL_ARG_DIFF_BIAS; }
static inline int ddp_dnnl_arg_diff_dst(void) { return DNNL_ARG_DIFF_DST; }
static inline int ddp_dnnl_arg_from(void) { return DNNL_ARG_FROM; }
static inline int ddp_dnnl_arg_to(void) { return DNNL_ARG_TO; }
static inline int ddp_dnnl_arg_scratchpad(void) { return DNNL_ARG_SCRATCHPAD; }
/* oneDNN runs on OpenMP (Debian's build): its threads per call are the calling thread's. */
void omp_set_num_threads(int);
int omp_get_max_threads(void);
#endif
