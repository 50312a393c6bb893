import Distributed

/// Runs `body` on every rank and makes every rank learn whether any rank failed, so that an
/// error on one rank (a missing file on one node) stops all of them instead of leaving the
/// others waiting in a collective.
public func agree<T>(_ communicator: Communicator, _ what: String, _ body: () throws -> T) throws -> T {
    var result: Result<T, Error>
    do { result = .success(try body()) } catch { result = .failure(error) }
    // Each rank's message (empty when it succeeded): the same refusal on every rank is printed once.
    var message: [UInt8] = []
    if case .failure(let error) = result { message = Array("\(error)".utf8) }
    let messages = communicator.during("agreeing on \(what)") { communicator.allGather(message) }
    let failed = messages.indices.filter { !messages[$0].isEmpty }
    switch result {
    case .failure(let error):
        if error is RankSymmetricError { throw error }
        let firstWithSameMessage = failed.first { messages[$0] == message }
        throw AgreedFailure(underlying: error, reportedElsewhere: firstWithSameMessage != communicator.rank)
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

/// This rank's own error, which every other rank has learned of. When a lower rank met the
/// same error with the same message, that rank prints it and this one stays quiet.
public struct AgreedFailure: RankSymmetricError, CustomStringConvertible {
    public let underlying: Error
    public let reportedElsewhere: Bool
    public init(underlying: Error, reportedElsewhere: Bool = false) {
        self.underlying = underlying
        self.reportedElsewhere = reportedElsewhere
    }
    /// An error every rank meets identically (computed from agreed values): rank 0 reports it.
    public init(onEveryRank underlying: Error, rank: Int) {
        self.init(underlying: underlying, reportedElsewhere: rank != 0)
    }
    public var description: String { "\(underlying)" }
}

extension PeerFailure: RankSymmetricError {}
