//! The Corefile parser and every directive's setup, on any text.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    clusterdns::harness::corefile(data);
});
