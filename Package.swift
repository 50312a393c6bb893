// swift-tools-version:6.0
import PackageDescription

// Layers, each a module; dependencies point one way:
// ddptrain (the command line) -> {Training, Export} ; Training -> {Distributed, Data, Optim, Models} ; Export -> NN
// Models -> NN -> Autograd -> Kernels ; Optim, Data, Distributed -> Autograd
// -> C libraries (OpenBLAS, oneDNN, MPI, zlib, libjpeg-turbo, libpng) and our AVX-512 C kernels.
// Only Distributed imports MPI.
let package = Package(
    name: "ddptrain",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ddptrain", targets: ["ddptrain"]),
        .executable(name: "kernel-bench", targets: ["kernel-bench"]),
        .executable(name: "data-bench", targets: ["data-bench"]),
        .library(name: "DDPTrain", targets: ["Kernels", "Autograd", "NN", "Models", "Optim", "Distributed", "Data", "Training", "Export"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // AVX-512 builds of the bf16 passes over blocked tensors, chosen at run time (`VectorISA`).
        .target(name: "CBlockedAVX512"),
        .target(name: "Kernels", dependencies: ["COpenBLAS", "CDNNL", "CZlib", "CBlockedAVX512"], swiftSettings: fast),
        .target(name: "Autograd", dependencies: ["Kernels"], swiftSettings: fast),
        .target(name: "NN", dependencies: ["Autograd", "Kernels"], swiftSettings: fast),
        .target(name: "Models", dependencies: ["NN", "Autograd"], swiftSettings: fast),
        .target(name: "Optim", dependencies: ["Autograd", "Kernels"], swiftSettings: fast),
        .target(name: "Distributed", dependencies: ["CMPI", "Kernels", "Autograd", "NN"], swiftSettings: fast),
        .target(name: "Data", dependencies: ["Autograd", "Kernels", "CZlib", "CTurboJPEG", "CPNG"], swiftSettings: fast),
        .target(
            name: "Export", dependencies: ["Autograd", "NN", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Proto/onnx.proto"]),
        .target(
            name: "Training",
            dependencies: ["Kernels", "Autograd", "NN", "Models", "Optim", "Data", "Distributed", .product(name: "Yams", package: "Yams")],
            swiftSettings: fast),
        .executableTarget(
            name: "ddptrain",
            dependencies: ["Training", "Export", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "kernel-bench",
            dependencies: ["Kernels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: fast),
        .executableTarget(
            name: "data-bench",
            dependencies: ["Data", "Kernels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: fast),
        .executableTarget(
            name: "mpi-check", dependencies: ["Distributed", "Kernels", "Autograd", "NN", "Models", "Optim", "Data"],
            swiftSettings: fast),
        .target(name: "TestSupport", dependencies: ["Autograd", "Kernels"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "Kernels", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Autograd", "Models", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "OptimTests", dependencies: ["Optim", "NN", "Autograd", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "NN", "Autograd", "Data", "Distributed", "Optim", "Kernels", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Autograd", "Kernels", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "Kernels", "Autograd", "NN"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "Models", "NN", "Autograd", "Kernels"], exclude: ["check_onnx.py"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "NN", "Autograd", "Kernels", "TestSupport"]),
    ]
)

/// Hot loops run on unsafe buffers; bounds checks stay on in debug builds only.
var fast: [SwiftSetting] { [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))] }
