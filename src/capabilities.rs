//! The capabilities the image gives the binary as file-permitted only (`setcap ...=+p`), raised
//! here: a file's effective bit would make execve fail wherever one of them is outside the
//! container's bounding set (the coredns Deployment drops all but NET_BIND_SERVICE), while the
//! node-local-dns DaemonSet adds NET_ADMIN for node-cache's link and rules.

use caps::{CapSet, Capability};
use clusterdns_plugin::clog;

/// What node-cache's iptables runs need, handed to it as ambient capabilities: iptables is
/// started as the image's non-root user and has no file capabilities of its own.
const FOR_IPTABLES: [Capability; 3] = [
    Capability::CAP_NET_ADMIN,
    Capability::CAP_NET_RAW,
    Capability::CAP_DAC_OVERRIDE,
];

/// Makes every permitted capability effective, and with `for_children` passes iptables' ones
/// on to child processes. Capabilities belong to a thread: called before any other thread
/// starts, so the runtime's threads inherit them. Failures are logged; a missing capability
/// shows later as the operation it denies.
pub fn raise(for_children: bool) {
    let permitted = match caps::read(None, CapSet::Permitted) {
        Ok(set) => set,
        Err(e) => {
            clog::warning(None, format_args!("could not read capabilities: {e}"));
            return;
        }
    };
    if let Err(e) = caps::set(None, CapSet::Effective, &permitted) {
        clog::warning(
            None,
            format_args!("could not raise capabilities {permitted:?}: {e}"),
        );
    }
    if !for_children {
        return;
    }
    for cap in FOR_IPTABLES.into_iter().filter(|c| permitted.contains(c)) {
        let raised = caps::raise(None, CapSet::Inheritable, cap)
            .and_then(|()| caps::raise(None, CapSet::Ambient, cap));
        if let Err(e) = raised {
            clog::warning(None, format_args!("could not pass {cap} on to iptables: {e}"));
        }
    }
}
