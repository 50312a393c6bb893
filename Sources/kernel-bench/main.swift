import Kernels
print("placeholder")
