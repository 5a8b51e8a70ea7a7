//! The handler: CoreDNS's plugin/template. Templates are tried in order; the first whose zone,
//! class, type and a regular expression match answers. A template that matches the zone but no
//! expression ends the query with SERVFAIL unless it falls through.

use std::collections::HashMap;

use clusterdns_plugin::ede::extended_error;
use clusterdns_plugin::proto::op::{Edns, Message, ResponseCode};
use clusterdns_plugin::proto::rr::{DNSClass, RData, Record, RecordType};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request, Zones, lowercase_ascii};

use crate::metrics;
use crate::render::{Data, RecordTemplate, RenderError};
use crate::setup::Config;

/// The handler.
pub struct Template {
    /// Every template's zones: other names go straight on.
    zones: Zones,
    templates: Vec<Config>,
}

impl Template {
    pub fn new(templates: Vec<Config>) -> Self {
        let zones = templates
            .iter()
            .flat_map(|t| t.zones.iter())
            .map(|z| z.to_ascii())
            .collect::<Vec<_>>();
        Self {
            zones: Zones::parse(&zones).unwrap_or_default(),
            templates,
        }
    }
}

/// A template's data for `req`, if its zone, class, type and an expression match; otherwise
/// whether to go on to the next template (CoreDNS's `template.match`).
fn matched<'a>(t: &'a Config, req: &'a Request, name: &'a str) -> Result<Data<'a>, bool> {
    let Some(zone) = t.zones.matches(req.qname()) else {
        return Err(true);
    };
    let (qclass, qtype) = (req.qclass(), req.qtype());
    if t.class != DNSClass::ANY && qclass != DNSClass::ANY && qclass != t.class {
        return Err(true);
    }
    if t.rtype != RecordType::ANY && qtype != RecordType::ANY && qtype != t.rtype {
        return Err(true);
    }
    for re in &t.regex {
        let Some(caps) = re.captures(name) else {
            continue;
        };
        let matches: Vec<String> = caps
            .iter()
            .map(|m| m.map_or_else(String::new, |m| m.as_str().to_string()))
            .collect();
        let mut groups: HashMap<String, String> = matches
            .iter()
            .enumerate()
            .map(|(i, m)| (i.to_string(), m.clone()))
            .collect();
        for (i, group) in re.capture_names().enumerate() {
            if let Some(group) = group {
                groups.insert(group.to_string(), matches.get(i).cloned().unwrap_or_default());
            }
        }
        return Ok(Data {
            zone: zone.to_ascii(),
            name,
            regex: re.as_str(),
            matches,
            groups,
            class: if qclass == DNSClass::ANY { t.class } else { qclass }.to_string(),
            rtype: if qtype == RecordType::ANY { t.rtype } else { qtype }.to_string(),
            remote: req.client.ip().to_canonical().to_string(),
            qname: name,
            qtype: u16::from(qtype),
            qclass: u16::from(qclass),
            id: req.metadata.id,
            meta: req.meta.as_deref(),
        });
    }
    Err(t.fallthrough.through(req.qname()))
}

impl Template {
    fn render_all(
        &self,
        labels: &[&str; 5],
        section: &str,
        templates: &[RecordTemplate],
        data: &gtmpl::Value,
    ) -> Result<Vec<Record>, PluginError> {
        let mut out = Vec::with_capacity(templates.len());
        for t in templates {
            match t.render(data) {
                Ok(record) => out.push(record),
                Err(e) => {
                    let family = match e {
                        RenderError::Template(_) => metrics::TEMPLATE_FAILURES.as_ref(),
                        RenderError::Record(_) => metrics::RR_FAILURES.as_ref(),
                    };
                    if let Some(c) = family {
                        let [server, zone, view, class, rtype] = *labels;
                        c.with_label_values(&[server, zone, view, class, rtype, section, &t.source])
                            .inc();
                    }
                    return Err(PluginError::in_plugin("template", ResponseCode::ServFail, e));
                }
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Handler for Template {
    fn name(&self) -> &'static str {
        "template"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        if self.zones.matches(req.qname()).is_none() {
            return next.run(req).await;
        }
        let name = lowercase_ascii(req.qname());
        for t in &self.templates {
            let data = match matched(t, req, &name) {
                Ok(data) => data,
                Err(true) => continue,
                Err(false) => return Ok(Reply::NoAnswer(ResponseCode::ServFail)),
            };
            let labels = [
                &*req.server,
                data.zone.as_str(),
                "",
                data.class.as_str(),
                data.rtype.as_str(),
            ];
            if let Some(c) = metrics::MATCHES.as_ref() {
                c.with_label_values(&labels).inc();
            }
            if t.rcode == ResponseCode::ServFail {
                return Ok(Reply::NoAnswer(ResponseCode::ServFail));
            }
            let value = data.value();
            let mut m: Message = req.reply();
            m.metadata.authoritative = true;
            m.metadata.response_code = t.rcode;
            for record in self.render_all(&labels, "answer", &t.answer, &value)? {
                let cname = match &record.data {
                    RData::CNAME(target) if matches!(req.qtype(), RecordType::A | RecordType::AAAA) => {
                        Some(target.0.clone())
                    }
                    _ => None,
                };
                m.answers.push(record);
                if let (Some(target), Some(lookup)) = (cname, &req.server_lookup) {
                    let up = lookup.lookup(req, target, req.qtype()).await?;
                    m.metadata.truncation = up.metadata.truncation;
                    m.answers.extend(up.answers);
                }
            }
            m.additionals = self.render_all(&labels, "additional", &t.additional, &value)?;
            m.authorities = self.render_all(&labels, "authority", &t.authority, &value)?;
            if let Some((code, reason)) = &t.ederror {
                // RFC 8914's option; the server sends OPT only to clients that sent one, with
                // their DO bit (CoreDNS adds OPT, DO set, whatever the query had).
                let edns = m.edns.get_or_insert_with(Edns::new);
                edns.options_mut().insert(extended_error(*code, reason));
            }
            return Ok(Reply::Answer(m));
        }
        next.run(req).await
    }
}
