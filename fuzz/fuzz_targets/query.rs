//! The whole query path, from request bytes to reply bytes: the first byte picks UDP (even) or
//! a TCP stream of length-prefixed messages (odd), the rest is what the client sent.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

static PATH: LazyLock<clusterdns::harness::QueryPath> =
    LazyLock::new(|| clusterdns::harness::QueryPath::new().expect("the harness sets up"));

fuzz_target!(|data: &[u8]| {
    let Some((&transport, message)) = data.split_first() else {
        return;
    };
    if transport % 2 == 0 {
        if let Some(reply) = PATH.udp(message) {
            assert!(reply.len() >= 12, "a reply has a header");
        }
    } else {
        for reply in PATH.tcp(message) {
            assert!(reply.len() >= 12, "a reply has a header");
        }
    }
});
