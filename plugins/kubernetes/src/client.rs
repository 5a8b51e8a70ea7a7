//! The API client, chosen as CoreDNS chooses: `kubeconfig`, else `endpoint` (with `tls`),
//! else the pod's service account.

use kube::Client;
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::rest_client::{Limits, RestClientLayer};
use crate::setup::ApiSource;

/// Builds the client for `source`, rate limited and measured as client-go's is in CoreDNS.
pub async fn client(source: &ApiSource, limits: Limits) -> Result<Client, String> {
    let config = match source {
        ApiSource::InCluster => {
            kube::Config::incluster().map_err(|e| format!("in-cluster configuration: {e}"))?
        }
        ApiSource::Kubeconfig { path, context } => {
            let kc =
                Kubeconfig::read_from(path).map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
            let options = KubeConfigOptions {
                context: context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
        ApiSource::Endpoint { url, tls: None } => {
            kube::Config::new(url.parse().map_err(|e| format!("endpoint {url}: {e}"))?)
        }
        ApiSource::Endpoint {
            url,
            tls: Some((cert, key, ca)),
        } => {
            // A kubeconfig of our own, so kube loads the certificates as for any other.
            let yaml = format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: endpoint\n  cluster:\n    server: {url:?}\n    certificate-authority: {:?}\n\
                 users:\n- name: endpoint\n  user:\n    client-certificate: {:?}\n    client-key: {:?}\n\
                 contexts:\n- name: endpoint\n  context:\n    cluster: endpoint\n    user: endpoint\ncurrent-context: endpoint\n",
                ca.display().to_string(),
                cert.display().to_string(),
                key.display().to_string()
            );
            let kc = Kubeconfig::from_yaml(&yaml).map_err(|e| format!("endpoint {url}: {e}"))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| format!("endpoint {url}: {e}"))?
        }
    };
    // client-go labels its metrics with the URL's host, port included when the URL has one.
    let host = config
        .cluster_url
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let builder = ClientBuilder::try_from(config).map_err(|e| format!("kubernetes client: {e}"))?;
    Ok(builder.with_layer(&RestClientLayer::new(host, limits)).build())
}
