// swift-tools-version:6.0
import PackageDescription

// The layers, from the inside out:
//   CasetrackCore    the record, the lifecycle table, dates, name keys, filters and the
//                    line-protocol codec. Pure: no sockets, no files, no SQLite.
//   CasetrackStore   the `CaseStore` protocol implemented over SQLite (GRDB), with the
//                    single group-commit writer and the hash chain of the events
//                    (swift-crypto).
//   CasetrackServer  the Unix-socket server (SwiftNIO) and the request dispatcher.
//   CasetrackClient  a small blocking client library (casectl, tests, benchmarks).
//   CasetrackPOSIX   the few blocking POSIX calls the adapters share.
//   CasetrackSystemd our own wrapper of libsystemd (CSystemd): the journald log handler,
//                    sd_notify, socket activation, the watchdog.
//   casetrackd, casectl  executables that only parse arguments and wire the above.
//   casetrack-fuzz   the libFuzzer entry point over CasetrackCore (make fuzz).
let package = Package(
    name: "casetrack",
    products: [
        .executable(name: "casetrackd", targets: ["casetrackd"]),
        .executable(name: "casectl", targets: ["casectl"]),
        .library(name: "CasetrackClient", targets: ["CasetrackClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // SHA-256 of the event chain (CasetrackStore only; the core stays free of it).
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        // Latency percentiles of the benchmark (casetrack-bench only).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // The core is optimized even in debug builds: the tests drive the real daemon and
        // casectl through tens of thousands of rows, and unoptimized parsing and name keys made
        // them several times slower.
        .target(name: "CasetrackCore", swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // Blocking POSIX helpers (Unix socket connect, unbuffered output) for the adapters.
        .target(name: "CasetrackPOSIX", dependencies: ["CasetrackCore"]),
        .target(
            name: "CasetrackStore",
            dependencies: [
                "CasetrackCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The SQLite C API itself, for the point-read path (see PointReader).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "CasetrackServer",
            dependencies: [
                "CasetrackCore", "CasetrackPOSIX",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(name: "CasetrackClient", dependencies: ["CasetrackCore", "CasetrackPOSIX"]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .target(
            name: "CasetrackSystemd",
            dependencies: [
                "CSystemd", "CasetrackCore", "CasetrackPOSIX",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "casetrackd",
            dependencies: [
                "CasetrackCore", "CasetrackPOSIX", "CasetrackStore", "CasetrackServer", "CasetrackSystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "casectl",
            dependencies: [
                "CasetrackCore", "CasetrackClient", "CasetrackPOSIX",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // libFuzzer target over the request decoder and validation (`make fuzz`); built
        // plainly, it replays saved inputs.
        .executableTarget(name: "casetrack-fuzz", dependencies: ["CasetrackCore"]),
        // `make bench`: the real daemon measured over its socket (never part of `make test`).
        .executableTarget(
            name: "casetrack-bench",
            dependencies: [
                "CasetrackCore", "CasetrackClient", "CasetrackPOSIX", "CasetrackTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // Synthetic data and the real-daemon harness (DaemonProcess), shared by the test
        // targets and casetrack-bench (never shipped).
        .target(name: "CasetrackTestSupport", dependencies: ["CasetrackCore", "CasetrackClient", "CasetrackPOSIX"]),
        .testTarget(name: "CasetrackCoreTests", dependencies: ["CasetrackCore", "CasetrackTestSupport"]),
        .testTarget(name: "CasetrackStoreTests", dependencies: [
            "CasetrackCore", "CasetrackStore", "CasetrackTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(
            name: "CasetrackServerTests",
            dependencies: [
                "CasetrackServer", "CasetrackCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["CasetrackCore", "CasetrackClient", "CasetrackPOSIX", "CasetrackServer", "CasetrackTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
