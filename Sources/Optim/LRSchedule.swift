#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Learning-rate multiplier as a function of (fractional) epoch, with optional linear warmup
/// (Goyal et al.): the factor climbs from `warmupStartFactor` to 1 over `warmupEpochs`, then
/// follows the decay. Step and multistep decays count epochs from 0, as PyTorch's schedulers
/// do when chained after warmup; cosine anneals over the epochs after warmup.
public struct LRSchedule: Equatable, Sendable {
    public enum Decay: Equatable, Sendable {
        case constant
        /// × gamma every `every` epochs (`StepLR`).
        case step(every: Double, gamma: Double)
        /// × gamma at each milestone (`MultiStepLR`).
        case multiStep(milestones: [Double], gamma: Double)
        /// Half a cosine from 1 down to `minFactor` at `totalEpochs` (`CosineAnnealingLR`).
        case cosine(totalEpochs: Double, minFactor: Double)
    }

    public var decay: Decay
    public var warmupEpochs: Double
    public var warmupStartFactor: Double

    public init(_ decay: Decay = .constant, warmupEpochs: Double = 0, warmupStartFactor: Double = 0.1) {
        self.decay = decay
        self.warmupEpochs = warmupEpochs
        self.warmupStartFactor = warmupStartFactor
    }

    public func factor(atEpoch epoch: Double) -> Double {
        if warmupEpochs > 0 && epoch < warmupEpochs {
            return warmupStartFactor + (1 - warmupStartFactor) * epoch / warmupEpochs
        }
        switch decay {
        case .constant:
            return 1
        case let .step(every, gamma):
            return pow(gamma, (epoch / every).rounded(.down))
        case let .multiStep(milestones, gamma):
            return pow(gamma, Double(milestones.filter { epoch >= $0 }.count))
        case let .cosine(total, minFactor):
            let span = max(total - warmupEpochs, 1e-9)
            let progress = min(max((epoch - warmupEpochs) / span, 0), 1)
            return minFactor + (1 - minFactor) * (1 + cos(Double.pi * progress)) / 2
        }
    }
}
