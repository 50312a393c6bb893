/// A problem a user can fix (a file, a folder, a checkpoint, a flag), with a message that says which.
public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
