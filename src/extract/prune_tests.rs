//! Tests of the boilerplate lines and elements `prune` removes.

use super::*;

#[test]
fn drops_captions_by_their_credit() {
    let t = "First para.\n\nThe couple on the red carpet (Image: Getty)\n\n\
             Fans queued overnight (Picture: PA Wire)\n\n\
             (Photos by Associated Press; photo illustration by Tim Hubbard)\n\nThe vote (held in May) was close.\n\n\
             Delegates at the court on Monday, when the hearings began; the court is to give \
             its opinion later this year, after the written pleadings of forty states and \
             of the United Nations. (Photo: Frank van Beek / UN Photo. Courtesy of the ICJ)\n\n\
             WATCH | Crowds gather in the square: thousands came out on Sunday to hear the \
             speeches, and the police said the day passed without trouble of any kind at all, \
             though the roads were shut for most of the afternoon and into the evening hours.";
    assert_eq!(
        prune_text(t, None, &[], &[]),
        "First para.\n\nThe vote (held in May) was close."
    );
}

#[test]
fn a_text_that_opens_with_other_boxes_starts_at_the_headline() {
    let body = "The striker and the defender were recalled to the starting line-up \
                for this afternoon's match, the manager said.";
    let t = format!(
        "Editor's choice\n\nWin tickets to a concert\n\n1 Woman dies after fall\n\
         2 Flat proposal\n\nAidy recalls big guns\n\n{body}\n\n{body}"
    );
    assert_eq!(
        prune_text(
            &t,
            Some("Aidy Recalls Big Guns (from Harrow Times)"),
            &[],
            &[]
        ),
        format!("{body}\n\n{body}")
    );
    // Prose before the headline's words is kept: they are not the head.
    let t = format!("{body}\n\n{body}\n\nAidy recalls big guns\n\n{body}");
    assert_eq!(prune_text(&t, Some("Aidy recalls big guns"), &[], &[]), t);
}

#[test]
fn drops_boilerplate_paragraphs() {
    let t = "Big Headline\n\nBy Jane Doe\n\nFirst para.\n\nRead more: other story\n\nAdvertisement\n\nLast para.\n\n\
             Click here for more football headlines!\n\nDavid M. Benett/Getty Images\n\n\
             14 hours ago\n\nDuration 1:30\n\n21 mins ago11:48 Jon King\n\nUp Next\n\n\
             This article contains affiliate links.\n\nText Size:\n\nE-mail This Article\n\n\
             17 minute read\n\nFouzia Van Der Fort|Published 4 months ago\n\nImage Credits: UiPath\n\n\
             ALSO READ: Brace for bad weather this weekend\n\nArticle continues below\n\nAd block users: Some site features may not work correctly \
             while an ad blocker is enabled, because they break scripts.\n\nPublished Jun 05, 2026 • 3 min read\n\nClick photo to enlarge\n\n\
             The shot clock after the 20 minutes read Wings 16, Canucks 5.";
    assert_eq!(
        prune_text(t, Some("Big headline"), &[], &["Jane Doe".into()]),
        "First para.\n\nLast para.\n\nThe shot clock after the 20 minutes read Wings 16, Canucks 5."
    );
}

#[test]
fn an_seo_headline_leading_the_text_goes_like_the_title() {
    let t = "What's next for Gaza after the appointment?\n\nFirst para.\n\nLast para.";
    let seo = ["What's next for Gaza, after the appointment?"];
    assert_eq!(
        prune_text(t, Some("Talks could stall"), &seo, &[]),
        "First para.\n\nLast para."
    );
    assert_eq!(prune_text(t, Some("Talks could stall"), &[], &[]), t);
}

#[test]
fn drops_labels_repeated_between_paragraphs() {
    let t =
        "Werbung\n\nFirst paragraph.\n\nWerbung\n\nSecond paragraph.\n\nWerbung\n\nYes.\n\nYes.";
    assert_eq!(
        prune_text(t, None, &[], &[]),
        "First paragraph.\n\nSecond paragraph.\n\nYes.\n\nYes."
    );
    let t = "First paragraph.\n\nFUNDA OLUNYE UDABA LAPHA | Kuboshwe abahlanu\n\n\
             Second paragraph.\n\nFUNDA OLUNYE UDABA LAPHA | Uphenyo kutholwa\n\n\
             Third | fourth.\n\nFUNDA OLUNYE UDABA LAPHA | Isihluku isoka";
    assert_eq!(
        prune_text(t, None, &[], &[]),
        "First paragraph.\n\nSecond paragraph.\n\nThird | fourth."
    );
}

#[test]
fn cuts_an_author_box_at_the_end() {
    let body = "A paragraph of the article that goes on for a while.";
    let t = format!("{body}\n\n{body}\n\nAbout the author\n\nSam writes about roads.");
    assert_eq!(prune_text(&t, None, &[], &[]), format!("{body}\n\n{body}"));
    // Not in the first half: an article about "more from" the archive.
    let t = format!("More from\n\n{body}\n\n{body}");
    assert_eq!(prune_text(&t, None, &[], &[]), t);
}

#[test]
fn drops_attribution_lines() {
    let t = "First.\n\nSource: BBC\n\nSecond.\n\nVia: The Town Paper\n\nSource: the council said it would act.";
    assert_eq!(
        prune_text(t, None, &[], &[]),
        "First.\n\nSecond.\n\nSource: the council said it would act."
    );
}

#[test]
fn keeps_list_lines() {
    assert_eq!(prune_text("a\nShare\nb", None, &[], &[]), "a\nb");
}
