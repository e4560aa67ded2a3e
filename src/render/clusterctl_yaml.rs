//! Writes `clusterctl.yaml`: the variables `clusterctl generate cluster` reads, with R4's
//! UPPER_SNAKE keys so that R4 users and `settings import` can read it back.

use super::Profile;
use crate::settings::write::yaml_string;

pub fn write(vars: &[(&'static str, String)], profile: Profile) -> String {
    let mut out = format!(
        "# clusterctl variables written by `scs-capi render` (profile {}).\n\
         # `clusterctl generate cluster NAME --from cluster-template.yaml --config clusterctl.yaml`\n\
         # gives the same manifests as `scs-capi render`; `scs-capi settings import` reads this\n\
         # file back into settings. Machine-template generations are hashes of their spec.\n",
        profile.dir()
    );
    for (key, value) in vars {
        // Booleans and numbers stay unquoted, as R4 wrote them; clusterctl reads text.
        let plain = value == "true"
            || value == "false"
            || (!value.is_empty()
                && value.bytes().all(|b| b.is_ascii_digit())
                && !value.starts_with('0'))
            || value == "0";
        let rendered = if plain {
            value.clone()
        } else {
            yaml_string(value)
        };
        out.push_str(&format!("{key}: {rendered}\n"));
    }
    out
}
