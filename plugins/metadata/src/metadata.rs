//! The handler: CoreDNS collects metadata in its server before the chain runs when a block has
//! `metadata`; this runs second in the chain (after `root`), which comes to the same.

use clusterdns_plugin::{
    Handler, Linked, MetadataProvider, MetadataValues, Next, PluginError, Reply, Request, Zones,
    lowercase_ascii,
};

/// The handler.
pub struct Metadata {
    zones: Zones,
    /// The block's kubernetes plugin, the provider of metadata clusterdns has.
    providers: Vec<Linked<dyn MetadataProvider>>,
}

impl Metadata {
    pub fn new(zones: Zones, providers: Vec<Linked<dyn MetadataProvider>>) -> Self {
        Self { zones, providers }
    }
}

#[async_trait::async_trait]
impl Handler for Metadata {
    fn name(&self) -> &'static str {
        "metadata"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        // Values may be set by any plugin of the block; providers add theirs for our zones.
        let mut values = MetadataValues::default();
        if self.zones.matches(req.qname()).is_some() {
            let qname = lowercase_ascii(req.qname());
            for provider in self.providers.iter().filter_map(Linked::get) {
                provider.metadata(req, &qname, &mut values);
            }
        }
        req.meta = Some(Box::new(values));
        next.run(req).await
    }
}
