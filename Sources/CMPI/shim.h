#ifndef DDPTRAIN_CMPI_SHIM_H
#define DDPTRAIN_CMPI_SHIM_H
#include <mpi.h>

/* OpenMPI defines its handles as macros over global symbols; Swift imports no such
   macro, so each one is handed over by a static inline function. */
static inline MPI_Comm ddp_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm ddp_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype ddp_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype ddp_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype ddp_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype ddp_mpi_uint16(void) { return MPI_UINT16_T; }
static inline MPI_Op ddp_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op ddp_mpi_max(void) { return MPI_MAX; }
static inline void *ddp_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Request ddp_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *ddp_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int ddp_mpi_success(void) { return MPI_SUCCESS; }
static inline int ddp_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int ddp_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline MPI_Info ddp_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Errhandler ddp_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int ddp_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline MPI_Datatype ddp_mpi_long_long(void) { return MPI_LONG_LONG; }
static inline int ddp_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int ddp_mpi_undefined(void) { return MPI_UNDEFINED; }
#endif
