//! The answers a receiver of Outbound Messages sends back.

use quick_xml::escape::escape;

/// The answer to a message whose notifications are all stored: Salesforce
/// counts the message delivered only on HTTP 200 with this envelope.
pub const ACK: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">
   <Ack>true</Ack>
  </notificationsResponse>
 </soapenv:Body>
</soapenv:Envelope>
"#;

/// Who a SOAP 1.1 fault blames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// `soapenv:Client`: the message itself is refused.
    Client,
    /// `soapenv:Server`: the receiver failed; the same message may succeed
    /// later.
    Server,
}

/// A SOAP 1.1 fault envelope saying `message`. Salesforce sends a message
/// again, with backoff, until it is acknowledged or 24 hours old.
pub fn fault(code: FaultCode, message: &str) -> String {
    let code = match code {
        FaultCode::Client => "soapenv:Client",
        FaultCode::Server => "soapenv:Server",
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <soapenv:Fault>
   <faultcode>{code}</faultcode>
   <faultstring>{}</faultstring>
   <detail />
  </soapenv:Fault>
 </soapenv:Body>
</soapenv:Envelope>
"#,
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/salesforce/outbound-messages"
    );

    fn fixture(name: &str) -> String {
        let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
        text.trim_start_matches('\u{feff}').to_owned()
    }

    #[test]
    fn the_ack_is_the_captured_one() {
        assert_eq!(ACK, fixture("ack-response.xml"));
    }

    #[test]
    fn a_fault_fills_the_captured_template_with_the_escaped_message() {
        let template = fixture("soap-fault-response-template.xml");
        assert_eq!(
            fault(FaultCode::Client, "organization <00D> & co"),
            template.replace("{0}", "organization &lt;00D&gt; &amp; co")
        );
        assert!(fault(FaultCode::Server, "x").contains("<faultcode>soapenv:Server</faultcode>"));
    }
}
