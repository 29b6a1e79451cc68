//! Every metric name, help text and label set loadtide exports, in one place. The names are
//! part of the contract (DESIGN.md): dashboards and alert rules depend on them.

pub const REQUEST_DURATION: &str = "loadtide_request_duration_seconds";
pub const REQUEST_DURATION_HELP: &str =
    "Request latency from the intended start (open model) or the send (closed model), including failed requests.";
pub const ENDPOINT_LABELS: &[&str] = &["profile", "target", "endpoint", "method", "protocol"];

pub const RESPONSES: &str = "loadtide_responses_total";
pub const RESPONSES_HELP: &str =
    "Responses received, by status code (HTTP status; ok, a Redis error code or a SQLSTATE class otherwise).";

pub const REQUEST_ERRORS: &str = "loadtide_request_errors_total";
pub const REQUEST_ERRORS_HELP: &str =
    "Failed requests by kind: timeout, connect, dns, tls, reset, status, check, protocol, other.";

pub const IN_FLIGHT: &str = "loadtide_requests_in_flight";
pub const IN_FLIGHT_HELP: &str = "Requests sent and not yet finished.";

pub const INTENDED_RPS: &str = "loadtide_intended_requests_per_second";
pub const INTENDED_RPS_HELP: &str = "The profile's intended arrival rate now (open model).";

pub const VIRTUAL_USERS: &str = "loadtide_virtual_users";
pub const VIRTUAL_USERS_HELP: &str = "Virtual users running now (closed model).";

pub const DROPPED: &str = "loadtide_dropped_requests_total";
pub const DROPPED_HELP: &str =
    "Requests that could not start on time because the generator, not the target, hit a limit.";

pub const SCHEDULER_LAG: &str = "loadtide_scheduler_lag_seconds";
pub const SCHEDULER_LAG_HELP: &str =
    "How late the generator dispatched each request after its intended start.";
pub const SCHEDULER_LAG_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

pub const PROFILE_ACTIVE: &str = "loadtide_profile_active";
pub const PROFILE_ACTIVE_HELP: &str = "1 while the profile is generating load, 0 otherwise.";

pub const NEXT_START: &str = "loadtide_profile_next_start_timestamp_seconds";
pub const NEXT_START_HELP: &str =
    "When the profile's schedule next starts it (Unix seconds); 0 when it never will again.";

pub const CHECKS: &str = "loadtide_checks_total";
pub const CHECKS_HELP: &str =
    "Scenario step checks by check (status, body_contains, json ..., max_latency, extract VAR) and result (pass, fail).";

pub const SCENARIO_DURATION: &str = "loadtide_scenario_duration_seconds";
pub const SCENARIO_DURATION_HELP: &str =
    "How long one iteration of a scenario took, think times included (from the intended start in the open model).";
pub const SCENARIO_DURATION_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

pub const SCENARIO_ITERATIONS: &str = "loadtide_scenario_iterations_total";
pub const SCENARIO_ITERATIONS_HELP: &str =
    "Scenario iterations by result: success (every step passed) or failure.";

pub const BYTES_SENT: &str = "loadtide_bytes_sent_total";
pub const BYTES_SENT_HELP: &str =
    "Request bytes written (request line, headers and body, as serialised for HTTP/1.1).";
pub const BYTES_RECEIVED: &str = "loadtide_bytes_received_total";
pub const BYTES_RECEIVED_HELP: &str = "Response body bytes read.";

pub const CONFIG_RELOADS: &str = "loadtide_config_reloads_total";
pub const CONFIG_RELOADS_HELP: &str = "Configuration reloads by result (success, failure).";
pub const CONFIG_LAST_RELOAD_OK: &str = "loadtide_config_last_reload_successful";
pub const CONFIG_LAST_RELOAD_OK_HELP: &str = "1 if the last configuration (re)load succeeded.";

pub const PAUSED: &str = "loadtide_paused";
pub const PAUSED_HELP: &str =
    "1 while all traffic is paused (POST /-/pause or the pause file), 0 otherwise.";

// Capacity profiles (kind = "capacity"): the result of the last search, label profile.
pub const CAPACITY_RPS: &str = "loadtide_capacity_rps";
pub const CAPACITY_RPS_HELP: &str =
    "Highest arrival rate (requests per second) at which the last capacity search met every SLO; 0 when none did.";
pub const CAPACITY_LAST_RUN: &str = "loadtide_capacity_last_run_timestamp_seconds";
pub const CAPACITY_LAST_RUN_HELP: &str = "When the last capacity search finished (Unix seconds).";
pub const CAPACITY_GENERATOR_BOUND: &str = "loadtide_capacity_generator_bound";
pub const CAPACITY_GENERATOR_BOUND_HELP: &str =
    "1 when the last capacity search stopped because the generator, not the target, was the limit (loadtide_capacity_rps is then a lower bound).";
pub const RUNTIME_ALIVE_TASKS: &str = "loadtide_runtime_alive_tasks";
pub const RUNTIME_ALIVE_TASKS_HELP: &str =
    "Tokio tasks alive now (requests in flight, users, connections, servers): flat over time unless load grows.";

pub const BUILD_INFO: &str = "loadtide_build_info";
pub const BUILD_INFO_HELP: &str =
    "Always 1; the labels carry the version and git revision of the build.";

/// Drop reasons: a closed set, like error kinds.
pub const DROP_MAX_IN_FLIGHT: &str = "max_in_flight";
pub const DROP_SAFETY_MAX_RATE: &str = "safety_max_rate";
pub const DROP_SAFETY_MAX_IN_FLIGHT: &str = "safety_max_in_flight";

// `[safety]`: the allowlist's DNS check and the global caps.
pub const SAFETY_REFUSED: &str = "loadtide_safety_refused_total";
pub const SAFETY_REFUSED_HELP: &str =
    "Connections refused before connecting because the target's host resolved to an address outside safety.allowed_hosts.";
pub const SAFETY_MAX_RATE: &str = "loadtide_safety_max_rate";
pub const SAFETY_MAX_RATE_HELP: &str =
    "safety.max_rate in force on this instance (arrivals per second across all profiles; its shard's share); 0 when unset.";
pub const SAFETY_MAX_IN_FLIGHT: &str = "loadtide_safety_max_in_flight";
pub const SAFETY_MAX_IN_FLIGHT_HELP: &str =
    "safety.max_in_flight in force on this instance (its shard's share); 0 when unset.";
pub const SAFETY_IN_FLIGHT: &str = "loadtide_safety_in_flight";
pub const SAFETY_IN_FLIGHT_HELP: &str =
    "Requests (and closed-model scenario iterations) in flight across all profiles, as counted against safety.max_in_flight.";

// The error-budget brake (`[profiles.NAME.brake]`).
pub const BRAKE_ENGAGED: &str = "loadtide_brake_engaged";
pub const BRAKE_ENGAGED_HELP: &str =
    "1 while the profile's error-budget brake holds it back (paused or backed off), 0 otherwise.";
pub const BRAKE_TRIPS: &str = "loadtide_brake_trips_total";
pub const BRAKE_TRIPS_HELP: &str =
    "Times the profile's error-budget brake tripped, by reason: error_ratio, p99.";

// WebSocket targets: labels profile and target, like the request metrics.
pub const WS_LABELS: &[&str] = &["profile", "target"];

pub const WS_CONNECT_DURATION: &str = "loadtide_ws_connect_duration_seconds";
pub const WS_CONNECT_DURATION_HELP: &str =
    "Time to open a WebSocket connection (TCP connect, TLS and the upgrade handshake), for each connection opened.";
pub const WS_CONNECT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub const WS_MESSAGE_RTT: &str = "loadtide_ws_message_rtt_seconds";
pub const WS_MESSAGE_RTT_HELP: &str =
    "WebSocket message round trip, from the message's intended send instant to its reply (answered messages only).";

pub const WS_MESSAGES: &str = "loadtide_ws_messages_total";
pub const WS_MESSAGES_HELP: &str =
    "WebSocket messages by direction: sent, received (every message read, replies or not).";

pub const WS_CONNECTIONS: &str = "loadtide_ws_connections";
pub const WS_CONNECTIONS_HELP: &str = "WebSocket connections by state: open, connecting.";

pub const WS_ERRORS: &str = "loadtide_ws_errors_total";
pub const WS_ERRORS_HELP: &str =
    "WebSocket errors by kind: connect, handshake, tls, closed (unexpected close), timeout (no reply in time), protocol, send.";

// Messages inside streaming gRPC calls: labels profile, target and endpoint.
pub const GRPC_STREAM_LABELS: &[&str] = &["profile", "target", "endpoint"];

pub const GRPC_STREAM_MESSAGES: &str = "loadtide_grpc_stream_messages_total";
pub const GRPC_STREAM_MESSAGES_HELP: &str =
    "Messages of streaming gRPC calls by direction: sent (client-streaming and bidi request messages), received (every reply message of a streaming call).";

pub const GRPC_STREAM_MESSAGE_RTT: &str = "loadtide_grpc_stream_message_rtt_seconds";
pub const GRPC_STREAM_MESSAGE_RTT_HELP: &str =
    "Bidi gRPC calls: each reply message's round trip, from the instant the request message of the same position was ready to send (replies are paired with messages in order).";

pub const REQUEST_PHASE: &str = "loadtide_request_phase_seconds";
pub const REQUEST_PHASE_HELP: &str =
    "HTTP and gRPC request time by phase: dns, connect, tls (new connections only), first_byte (request sent to response head), body (response head to last byte).";
pub const REQUEST_PHASE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
pub const PHASES: [&str; 5] = ["dns", "connect", "tls", "first_byte", "body"];

pub const TLS_CERT_NOT_AFTER: &str = "loadtide_tls_cert_not_after_timestamp_seconds";
pub const TLS_CERT_NOT_AFTER_HELP: &str =
    "When the earliest-expiring certificate the target presented at its last TLS handshake expires (Unix seconds); absent until a handshake succeeded.";

pub const PROFILE_PAUSED: &str = "loadtide_profile_paused";
pub const PROFILE_PAUSED_HELP: &str =
    "1 while the control API holds this profile paused (the kill switch is loadtide_paused).";

pub const PROFILE_RATE_MULTIPLIER: &str = "loadtide_profile_rate_multiplier";
pub const PROFILE_RATE_MULTIPLIER_HELP: &str =
    "The control API's factor on this profile's configured load (1 unless changed; a reload puts it back).";

pub const DNS_ERRORS: &str = "loadtide_dns_resolution_errors_total";
pub const DNS_ERRORS_HELP: &str =
    "Lookups of a target's host names that failed (no answer, resolver error, or an answer safety.allowed_hosts refuses).";
pub const DISCOVERY_ERRORS: &str = "loadtide_discovery_read_errors_total";
pub const DISCOVERY_ERRORS_HELP: &str =
    "Re-reads of a target's file_sd files that failed (missing, malformed, or an instance outside safety.allowed_hosts); the last good set stays in use.";
pub const DISCOVERY_INSTANCES: &str = "loadtide_discovery_instances";
pub const DISCOVERY_INSTANCES_HELP: &str =
    "Instances a target's file_sd files list now (the ones its connections go to).";
