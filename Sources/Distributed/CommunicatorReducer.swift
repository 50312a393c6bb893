import Autograd

/// SyncBatchNorm's statistics all-reduce through a communicator.
public final class CommunicatorReducer: StatisticsReducer {
    let communicator: Communicator
    public init(_ communicator: Communicator) { self.communicator = communicator }
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {
        communicator.during("SyncBatchNorm statistics") { communicator.allReduceSum(values) }
    }
}
