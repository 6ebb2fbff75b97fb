//! Small stop-word lists (the most frequent function words) of the languages
//! feedwire meets most, for the block classifier's stop-word density. A
//! word of any list counts: the lists barely overlap with content words of
//! the other languages, and a page's language is not always declared.

use std::collections::HashSet;
use std::sync::OnceLock;

const EN: &str = "a about above after again against all also am an and any are as at be because been \
before being below between both but by can could did do does doing down during each few for from \
further had has have having he her here hers herself him himself his how i if in into is it its itself \
just me more most my myself no nor not now of off on once only or other our ours out over own same \
she should so some such than that the their theirs them themselves then there these they this those \
through to too under until up very was we were what when where which while who whom why will with \
would you your yours yourself said says told according since still however may might must us \
many much another around across against among upon without within new last first year years";

const DE: &str = "der die das den dem des ein eine einen einem einer eines und oder aber nicht auch \
auf aus bei mit nach von vor zu zum zur im in an am ist sind war waren wird werden wurde wurden hat \
haben hatte hatten sich sie er es ich wir ihr ihm ihn ihre ihren sein seine seiner seinen noch nur \
schon wie wenn dass als um über unter durch für gegen bis ob so auch man mehr sehr kann können \
soll sollen muss diese dieser dieses diesem diesen jetzt dann doch";

const FR: &str = "le la les un une des du de et ou mais ne pas plus que qui quoi dont où en dans sur \
sous par pour avec sans au aux ce cet cette ces il elle ils elles nous vous on est sont était ont \
avait été être avoir fait se sa son ses leur leurs lui y aussi comme tout tous très entre après";

const ES: &str = "el la los las un una unos unas de del y o pero no que en con por para sin sobre al \
es son era fue han ha había ser estar está están se su sus le les lo como más muy también este esta \
estos estas ese esa entre cuando donde hasta desde porque";

const IT: &str = "il lo la i gli le un uno una di del della dei delle e o ma non che in con per su \
tra fra al alla ai è sono era stato stata ha hanno si suo sua suoi come più anche questo questa \
quello quella nel nella dal dalla";

const NL: &str = "de het een en of maar niet dat die dit deze in op aan met voor van naar bij uit \
over door om te is zijn was waren heeft hebben wordt worden werd hij zij ze wij ook nog al als dan \
er wel geen";

const PT: &str = "o a os as um uma de do da dos das e ou mas não que em no na nos nas com por para \
sem sobre ao é são foi era ser está estão se seu sua seus como mais muito também este esta entre";

fn set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        [EN, DE, FR, ES, IT, NL, PT]
            .iter()
            .flat_map(|l| l.split_whitespace())
            .collect()
    })
}

/// Whether `word` (lower case) is a stop word of a known language.
pub fn is_stop_word(word: &str) -> bool {
    set().contains(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        for w in [
            "the", "and", "der", "und", "les", "los", "della", "het", "não",
        ] {
            assert!(is_stop_word(w), "{w}");
        }
        for w in ["council", "road", "Straße", "the "] {
            assert!(!is_stop_word(w), "{w}");
        }
    }
}
