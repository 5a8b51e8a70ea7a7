//! The `k8s_external` directive: a zone outside the cluster with the external addresses of its
//! Services (load balancer ingress, `externalIPs`) and, with `headless`, endpoint addresses.

mod external;
mod setup;

pub use external::External;
pub use setup::{Config, parse, setup};
