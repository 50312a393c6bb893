/// Anything wrong with a data set a user pointed at: names the file and what is wrong.
public struct DataError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
    init(_ path: String, _ problem: String) { description = "\(path): \(problem)" }
}
