import Kernels
BLAS.reexecIfCoreDegraded()
print("ddptrain 0.1.0, BLAS core \(BLAS.coreName), \(BLAS.threads) BLAS threads")
