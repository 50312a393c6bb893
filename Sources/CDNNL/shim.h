#ifndef DDPTRAIN_CDNNL_SHIM_H
#define DDPTRAIN_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>
/* oneDNN's argument macros alias one another and do not import into Swift. */
static inline int ddp_dnnl_arg_src(void) { return DNNL_ARG_SRC; }
static inline int ddp_dnnl_arg_weights(void) { return DNNL_ARG_WEIGHTS; }
static inline int ddp_dnnl_arg_dst(void) { return DNNL_ARG_DST; }
/* oneDNN runs on OpenMP (Debian's build): its threads per call are the calling thread's. */
void omp_set_num_threads(int);
int omp_get_max_threads(void);
#endif
