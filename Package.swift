// swift-tools-version:6.1
import PackageDescription

// The layers, from the inside out:
//   CasetrackCore    the record, the lifecycle table, dates, name keys, filters and the
//                    line-protocol codec. Pure: no sockets, no files, no SQLite.
//   CasetrackStore   the `CaseStore` protocol implemented over SQLite (GRDB), with the
//                    single group-commit writer, the hash chain of the events
//                    (SHA-256 of the system's libcrypto, through CSHA256) and the rounds an
//                    office shares with others (SQLite's session extension, CSQLiteSession).
//   CasetrackPostgres the shared register in PostgreSQL (postgres-nio), built only with
//                    the package trait `Postgres` (make build-postgres).
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
    // Off by default: the default build neither compiles postgres-nio nor its TLS stack.
    traits: [
        .trait(name: "Postgres", description: "The shared store of several offices in PostgreSQL (store = postgresql)."),
        .default(enabledTraits: []),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // Latency percentiles of the benchmark (casetrack-bench only).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // The shared store (CasetrackPostgres, trait Postgres only).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // The core is optimized even in debug builds: the tests drive the real daemon and
        // casectl through tens of thousands of rows, and unoptimized parsing and name keys made
        // them several times slower.
        .target(name: "CasetrackCore", swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // Blocking POSIX helpers (Unix socket connect, unbuffered output) for the adapters.
        .target(name: "CasetrackPOSIX", dependencies: ["CasetrackCore"]),
        // SQLite's session extension (an office's rounds of a shared register), in C: GRDB's
        // SQLite module leaves the session API undeclared.
        .target(name: "CSQLiteSession", linkerSettings: [.linkedLibrary("sqlite3")]),
        // SHA-256 of the event chain from the system's libcrypto (Debian: libssl-dev to build,
        // libssl3 to run): swift-crypto's BoringSSL was most of a release build.
        .target(name: "CSHA256", linkerSettings: [.linkedLibrary("crypto")]),
        // The store and the server are optimized in debug builds too, as the core is: every
        // test's daemon runs them for each request, and unoptimized they cost the suite a
        // seventh of its CPU (user time 409 s against 350 s; about 25 s more to compile).
        .target(
            name: "CasetrackStore",
            dependencies: [
                "CasetrackCore", "CSQLiteSession", "CSHA256",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The SQLite C API itself, for the point-read path (see PointReader).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // Empty unless built with the trait Postgres.
        .target(
            name: "CasetrackPostgres",
            dependencies: [
                "CasetrackCore", "CasetrackStore",
                .product(name: "PostgresNIO", package: "postgres-nio", condition: .when(traits: ["Postgres"])),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Postgres"])),
                .product(name: "NIOPosix", package: "swift-nio", condition: .when(traits: ["Postgres"])),
                .product(name: "NIOSSL", package: "swift-nio-ssl", condition: .when(traits: ["Postgres"])),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Optimized in debug builds too (see CasetrackStore).
        .target(
            name: "CasetrackServer",
            dependencies: [
                "CasetrackCore", "CasetrackPOSIX",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
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
                "CasetrackCore", "CasetrackPOSIX", "CasetrackStore", "CasetrackServer", "CasetrackSystemd", "CasetrackPostgres",
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
                "CasetrackCore", "CasetrackClient", "CasetrackPOSIX", "CasetrackTestSupport", "CEpoll",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // epoll(7) for the benchmark's notice listeners (Glibc's module leaves it out).
        .systemLibrary(name: "CEpoll", path: "Sources/CEpoll"),
        // Synthetic data and the real-daemon harness (DaemonProcess), shared by the test
        // targets and casetrack-bench (never shipped).
        .target(name: "CasetrackTestSupport", dependencies: ["CasetrackCore", "CasetrackClient", "CasetrackPOSIX"]),
        // The trait that runs tests which block (on the daemon, on child processes) on threads
        // of their own, not on Swift's two-thread global executor (Tests/TestThreads).
        .target(name: "TestThreads", path: "Tests/TestThreads"),
        .testTarget(name: "CasetrackCoreTests", dependencies: ["CasetrackCore", "CasetrackTestSupport"]),
        .testTarget(name: "CasetrackStoreTests", dependencies: [
            "CasetrackCore", "CasetrackStore", "CasetrackTestSupport", "CasetrackPostgres", "TestThreads", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
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
            dependencies: ["CasetrackCore", "CasetrackClient", "CasetrackPOSIX", "CasetrackServer", "CasetrackTestSupport", "TestThreads"]),
    ],
    swiftLanguageModes: [.v6]
)
