import Distributed

/// Where one benchmark step's seconds went (each phase the slowest rank's, once reduced).
struct BenchPhases {
    var total = 0.0, forward = 0.0, backward = 0.0, allReduceWait = 0.0, optimizer = 0.0, dataWait = 0.0
    /// The wait after backward of the rank that ended backward last: the communication backward did not hide.
    var exposedCommunication = 0.0

    /// Each phase's maximum over the ranks.
    func slowestRank(_ communicator: Communicator) -> BenchPhases {
        var values = packed
        communicator.allReduceMax(&values)
        return BenchPhases(packed: values)
    }

    /// The median of one phase over the steps.
    static func median(_ records: [BenchPhases], _ phase: KeyPath<BenchPhases, Double>) -> Double {
        records.map { $0[keyPath: phase] }.sorted()[records.count / 2]
    }
}

extension BenchPhases {
    private var packed: [Double] { [total, forward, backward, allReduceWait, optimizer, dataWait, exposedCommunication] }

    private init(packed p: [Double]) {
        (total, forward, backward, allReduceWait, optimizer, dataWait, exposedCommunication) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6])
    }
}
