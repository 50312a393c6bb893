import Distributed

/// Runs `body` on every rank and makes every rank learn whether any rank failed, so that an
/// error on one rank (a missing file on one node) stops all of them instead of leaving the
/// others waiting in a collective.
public func agree<T>(_ communicator: Communicator, _ what: String, _ body: () throws -> T) throws -> T {
    var result: Result<T, Error>
    do { result = .success(try body()) } catch { result = .failure(error) }
    var flags = [Double](repeating: 0, count: communicator.size)
    if case .failure = result { flags[communicator.rank] = 1 }
    communicator.allReduceSum(&flags)
    let failed = flags.indices.filter { flags[$0] > 0 }
    switch result {
    case .failure(let error): throw error is RankSymmetricError ? error : AgreedFailure(underlying: error)
    case .success(let value):
        guard failed.isEmpty else { throw PeerFailure(ranks: failed, what: what) }
        return value
    }
}

/// Another rank failed; that rank prints why.
public struct PeerFailure: Error, CustomStringConvertible {
    public let ranks: [Int]
    public let what: String
    public var description: String {
        "\(what) failed on rank\(ranks.count > 1 ? "s" : "") \(ranks.map(String.init).joined(separator: ", ")) (see its message); stopping"
    }
}

/// This rank's own error, which every other rank has learned of.
public struct AgreedFailure: RankSymmetricError, CustomStringConvertible {
    public let underlying: Error
    public var description: String { "\(underlying)" }
}

extension PeerFailure: RankSymmetricError {}
