import CDNNL
import Foundation

/// What ddptrain shares among its oneDNN primitives: the CPU engine, one stream per thread, and
/// primitives that run safely from any thread.
///
/// Debian's oneDNN is built with `DNNL_ENABLE_CONCURRENT_EXEC=OFF`: with the default
/// library-managed scratchpad a primitive must run on the thread that created it, and one
/// created on one worker and run on another (or on two at once) computed wrong, varying
/// results (bf16-mixed through oneDNN trained to 53% where emulation reached 88%). So every
/// primitive here is created with a user-managed scratchpad, and each execution hands it the
/// calling thread's own scratchpad memory.
public enum OneDNN {
    /// The element types the primitives are instantiated for: fp32 runs on every x86-64 CPU,
    /// bf16 needs AVX512-BF16 or AMX in oneDNN 2.6.
    public enum Element: Sendable, Hashable, CaseIterable {
        case f32, bf16

        var dataType: dnnl_data_type_t { self == .f32 ? dnnl_f32 : dnnl_bf16 }
        public var bytes: Int { self == .f32 ? 4 : 2 }
    }

    nonisolated(unsafe) static let engine: dnnl_engine_t? = {
        var engine: dnnl_engine_t?
        return dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? engine : nil
    }()

    /// oneDNN has kernels for `element` on this CPU.
    public static func supports(_ element: Element) -> Bool {
        guard engine != nil else { return false }
        switch element {
        case .f32: return true
        case .bf16: return hasISA(dnnl_cpu_isa_avx512_core_bf16)
        }
    }

    static func hasISA(_ isa: dnnl_cpu_isa_t) -> Bool {
        dnnl_get_effective_cpu_isa().rawValue & isa.rawValue == isa.rawValue
    }

    /// The bf16 instructions oneDNN runs on here.
    public static var isaName: String {
        if hasISA(dnnl_cpu_isa_avx512_core_amx) { return "AMX" }
        if hasISA(dnnl_cpu_isa_avx512_core_bf16) { return "AVX512-BF16" }
        return "no bf16 instructions"
    }

    /// Attributes every primitive is created with: the scratchpad is ours to give.
    static func makeAttributes() -> dnnl_primitive_attr_t? {
        var attr: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attr) == dnnl_success,
              dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success else {
            if attr != nil { dnnl_primitive_attr_destroy(attr) }
            return nil
        }
        return attr
    }

    /// A primitive and the scratchpad it needs, executable from any thread and from several at
    /// once (each execution uses its caller's scratchpad).
    final class Primitive: @unchecked Sendable {
        let handle: dnnl_primitive_t
        private var scratchpad: dnnl_memory_desc_t
        let scratchpadBytes: Int

        /// Creates the primitive a descriptor made with `makeAttributes()` describes.
        init?(_ descriptor: const_dnnl_primitive_desc_t) {
            var primitive: dnnl_primitive_t?
            guard dnnl_primitive_create(&primitive, descriptor) == dnnl_success, let primitive else { return nil }
            handle = primitive
            if let md = dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0) {
                scratchpad = md.pointee
            } else {
                scratchpad = dnnl_memory_desc_t()
            }
            scratchpadBytes = dnnl_memory_desc_get_size(&scratchpad)
        }

        deinit { dnnl_primitive_destroy(handle) }

        /// Runs the primitive on the calling thread's stream with `threads` OpenMP threads, on
        /// the given arguments (argument kind, its memory descriptor, its data); false on any
        /// error from oneDNN.
        func execute(_ arguments: [Argument], threads: Int) -> Bool {
            guard let engine = OneDNN.engine, let stream = Streams.current(engine) else { return false }
            omp_set_num_threads(Int32(max(threads, 1)))
            var memories: [dnnl_memory_t?] = []
            memories.reserveCapacity(arguments.count + 1)
            defer { for memory in memories where memory != nil { dnnl_memory_destroy(memory) } }
            var execArgs: [dnnl_exec_arg_t] = []
            for argument in arguments {
                var desc = argument.desc, memory: dnnl_memory_t?
                guard dnnl_memory_create(&memory, &desc, engine, argument.data) == dnnl_success else { return false }
                memories.append(memory)
                execArgs.append(dnnl_exec_arg_t(arg: argument.kind, memory: memory))
            }
            if scratchpadBytes > 0 {
                let data = ThreadScratch.current(.oneDNNScratchpad).reserve(scratchpadBytes)
                var memory: dnnl_memory_t?
                guard dnnl_memory_create(&memory, &scratchpad, engine, data) == dnnl_success else { return false }
                memories.append(memory)
                execArgs.append(dnnl_exec_arg_t(arg: ddp_dnnl_arg_scratchpad(), memory: memory))
            }
            guard dnnl_primitive_execute(handle, stream, Int32(execArgs.count), &execArgs) == dnnl_success else { return false }
            return dnnl_stream_wait(stream) == dnnl_success
        }
    }

    /// One argument of an execution.
    struct Argument {
        var kind: Int32
        var desc: dnnl_memory_desc_t
        var data: UnsafeMutableRawPointer
        init(_ kind: Int32, _ desc: dnnl_memory_desc_t, _ data: UnsafeRawPointer) {
            self.kind = kind; self.desc = desc; self.data = UnsafeMutableRawPointer(mutating: data)
        }
    }

    /// One oneDNN stream per thread (streams are not shared between threads).
    enum Streams {
        private static let key: pthread_key_t = {
            var key = pthread_key_t()
            pthread_key_create(&key) { dnnl_stream_destroy(OpaquePointer($0)) }
            return key
        }()

        static func current(_ engine: dnnl_engine_t) -> dnnl_stream_t? {
            if let existing = pthread_getspecific(key) { return OpaquePointer(existing) }
            var stream: dnnl_stream_t?
            guard dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success, let stream else { return nil }
            pthread_setspecific(key, UnsafeRawPointer(stream))
            return stream
        }
    }

    /// A plain (row-major, dense unless `strides` say otherwise) memory descriptor.
    static func plainDesc(_ dims: [Int], _ element: Element, strides: [Int]? = nil) -> dnnl_memory_desc_t? {
        var desc = dnnl_memory_desc_t()
        var d = dims.map { dnnl_dim_t($0) }
        var s: [dnnl_dim_t] = strides.map { $0.map { dnnl_dim_t($0) } } ?? {
            var out = [dnnl_dim_t](repeating: 1, count: dims.count)
            for i in stride(from: dims.count - 2, through: 0, by: -1) { out[i] = out[i + 1] * dnnl_dim_t(dims[i + 1]) }
            return out
        }()
        guard dnnl_memory_desc_init_by_strides(&desc, Int32(dims.count), &d, element.dataType, &s) == dnnl_success else { return nil }
        return desc
    }

    /// A descriptor of format `any`: the primitive picks its own (blocked) layout.
    /// A dense layout oneDNN names by `tag` (`dnnl_ABcd16b16a`, say).
    static func taggedDesc(_ dims: [Int], _ element: Element, _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t? {
        var desc = dnnl_memory_desc_t()
        var d = dims.map { dnnl_dim_t($0) }
        guard dnnl_memory_desc_init_by_tag(&desc, Int32(dims.count), &d, element.dataType, tag) == dnnl_success else { return nil }
        return desc
    }

    static func anyDesc(_ dims: [Int], _ element: Element) -> dnnl_memory_desc_t? {
        var desc = dnnl_memory_desc_t()
        var d = dims.map { dnnl_dim_t($0) }
        guard dnnl_memory_desc_init_by_tag(&desc, Int32(dims.count), &d, element.dataType, dnnl_format_tag_any) == dnnl_success else { return nil }
        return desc
    }

    static func bytes(_ desc: dnnl_memory_desc_t) -> Int {
        var copy = desc
        return dnnl_memory_desc_get_size(&copy)
    }

    static func equal(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        var a = a, b = b
        return dnnl_memory_desc_equal(&a, &b) != 0
    }
}
