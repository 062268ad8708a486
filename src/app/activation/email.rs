//! The verification link's e-mail.

use crate::app::App;
use crate::store::{Activation, NewEmail};

/// The link's e-mail, when SMTP is set up.
pub(super) fn link_email(app: &App, a: &Activation, link: &str) -> Option<NewEmail> {
    if !mail_configured(app) {
        return None;
    }
    let words = app.activation.words;
    let greeting = words.otp_email_greeting.replace("{name}", a.name.as_str());
    let text = format!(
        "{greeting}\n\n{}\n",
        words.otp_email_text.replace("{link}", link)
    );
    let html = format!(
        "<p>{}</p><p><a href=\"{}\">{}</a></p>",
        html_escape(&greeting),
        html_escape(link),
        html_escape(&words.otp_email_button)
    );
    Some(NewEmail {
        purpose: "otp_link",
        to: a.mail.clone(),
        subject: words.otp_email_subject.clone(),
        text,
        html: Some(html),
        dedupe_key: None,
    })
}

/// Without SMTP settings no e-mail is queued: the link goes by SMS alone.
fn mail_configured(app: &App) -> bool {
    app.mail.is_some()
}

fn html_escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}
