//! Links between the plugins of one server block: what one offers (the kubernetes index as
//! CoreDNS's `AutoPather` and `Externaler`), and another finds once the block is set up.

use std::any::Any;
use std::sync::{Arc, OnceLock};

/// Something a plugin offers the others of its block, as `Arc<dyn Interface>` behind `Any`.
pub type Provided = Arc<dyn Any + Send + Sync>;

/// The other end of a link: empty until the block's setups have all run (CoreDNS links in
/// `OnStartup`), then the directive's offer, if it made one of this interface.
pub struct Linked<T: ?Sized>(Arc<OnceLock<Arc<T>>>);

impl<T: ?Sized> Clone for Linked<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: ?Sized> Linked<T> {
    pub fn get(&self) -> Option<&T> {
        self.0.get().map(|v| &**v)
    }
}

/// Fills a link's slot from the offers of the directive it names; false if none fits.
type Fill = Arc<dyn Fn(&[Provided]) -> bool + Send + Sync>;

/// A setup's request to be linked to what another directive of its block offers.
#[derive(Clone)]
pub struct Link {
    /// The directive asked for (`kubernetes`).
    pub directive: String,
    /// The interface's name in CoreDNS's error text (`Externaler`).
    pub interface: &'static str,
    /// Whether a block without the directive is an error (k8s_external) or leaves the link
    /// empty (autopath).
    pub required: bool,
    fill: Fill,
}

impl Link {
    /// A link to the `T` that `directive` offers, and the end its asker keeps.
    pub fn new<T: ?Sized + Send + Sync + 'static>(
        directive: &str,
        interface: &'static str,
        required: bool,
    ) -> (Link, Linked<T>) {
        let slot: Arc<OnceLock<Arc<T>>> = Arc::new(OnceLock::new());
        let filled = slot.clone();
        let fill = move |offers: &[Provided]| match offers.iter().find_map(|o| o.downcast_ref::<Arc<T>>()) {
            Some(offer) => {
                // Set once: a setup a reload kept stays linked to what it was linked to, which
                // the reload kept as well (the assembly sets both up again otherwise).
                let _ = filled.set(offer.clone());
                true
            }
            None => false,
        };
        let link = Link {
            directive: directive.to_string(),
            interface,
            required,
            fill: Arc::new(fill),
        };
        (link, Linked(slot))
    }

    /// Links to one of `offers`; false when none is of the interface asked for.
    pub fn fill(&self, offers: &[Provided]) -> bool {
        (self.fill)(offers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Greeter: Send + Sync {
        fn greet(&self) -> &'static str;
    }
    struct Hello;
    impl Greeter for Hello {
        fn greet(&self) -> &'static str {
            "hello"
        }
    }

    #[test]
    fn links_to_an_offer_of_its_interface_only() {
        let (link, linked) = Link::new::<dyn Greeter>("kubernetes", "Greeter", true);
        assert!(linked.get().is_none());
        let other: Provided = Arc::new(Arc::new(5u32));
        assert!(!link.fill(std::slice::from_ref(&other)));
        assert!(linked.get().is_none());
        let greeter: Arc<dyn Greeter> = Arc::new(Hello);
        let offer: Provided = Arc::new(greeter);
        assert!(link.fill(&[other, offer]));
        assert_eq!(linked.get().map(Greeter::greet), Some("hello"));
    }
}
