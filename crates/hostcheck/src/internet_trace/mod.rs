//! `network.internet_trace` (`spec/inspection-checks.md`): has this
//! classified computer touched the internet (涉密不上网, 违规外联)? Per user:
//! visits to external hosts in browser histories ([`browsers`]); per host:
//! saved Wi-Fi/mobile/VPN connections, public resolvers, wpa_supplicant
//! networks and live default routes ([`netconf`]).

pub mod browsers;
pub mod netconf;

use crate::accounts::Account;
use crate::inspection::{InspectionConfig, Outcome};
use crate::netaddr::Classifier;
use crate::root::Root;
use mijian_report::Check;

const ID: &str = "network.internet_trace";

/// One result for `host`, one per interactive user.
pub fn checks(root: &Root, users: &[Account], cfg: &InspectionConfig) -> Vec<Check> {
    let cls = Classifier::new(&cfg.network);
    let mut out = Vec::new();
    let mut host = Outcome::new();
    netconf::scan(root, &cls, &mut host);
    out.push(host.check(
        ID,
        "host",
        "remove the Wi-Fi/mobile/VPN connections and wpa_supplicant networks, use the unit's internal \
         resolvers, and take the internet route off this classified computer (涉密不上网); report the \
         connection to the security officer",
    ));
    for u in users {
        let mut o = Outcome::new();
        let (findings, errors) = browsers::scan(root, &u.home, &cls);
        o.findings = findings;
        o.errors = errors;
        out.push(o.check(
            ID,
            &u.subject(),
            "the browser history shows visits to internet hosts from a classified computer: report it \
             to the security officer (违规外联) before anything is deleted",
        ));
    }
    out
}
