//! Reading an Outbound Message: one pass of a streaming XML reader over
//! the body, matching elements by local name so that any namespace prefix
//! works, and never holding more than the values it keeps.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use serde_json::{Map, Value};

use crate::message::{Message, Notification};
use crate::value::{FieldType, typed};

/// The most notifications Salesforce puts in one message.
pub const MAX_NOTIFICATIONS: usize = 100;

/// How deep elements may nest (the message itself needs six levels).
const MAX_DEPTH: usize = 32;

/// The XML Schema instance namespace of `xsi:type` and `xsi:nil`.
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Why a body is not an Outbound Message Gust can take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not UTF-8.
    #[error("the body is not UTF-8 text")]
    NotUtf8,
    /// A document type declaration, where entities would be declared.
    #[error("the message has a DOCTYPE: document type and entity declarations are refused")]
    Doctype,
    /// An entity reference other than XML's five and character references.
    #[error("the entity `&{0};` is not defined (only XML's five and character references are)")]
    UndefinedEntity(String),
    /// Not well-formed XML.
    #[error("the XML is malformed at byte {position}: {message}")]
    Malformed {
        /// Where the reader stopped.
        position: u64,
        /// What the reader found.
        message: String,
    },
    /// The body ends before its elements do.
    #[error("the XML ends inside <{0}>")]
    Unfinished(String),
    /// Well-formed, but not an Outbound Message.
    #[error("{0}")]
    NotOutboundMessage(String),
    /// A required element is missing.
    #[error("the message has no {0}")]
    Missing(&'static str),
    /// More than [`MAX_NOTIFICATIONS`] notifications.
    #[error("the message holds more than {MAX_NOTIFICATIONS} notifications")]
    TooManyNotifications,
    /// A value that holds elements.
    #[error("`{0}` holds elements, where Salesforce sends a value")]
    NestedValue(String),
    /// Elements nested deeper than any message needs.
    #[error("the XML nests elements more than {MAX_DEPTH} deep")]
    TooDeep,
}

/// Reads an Outbound Message from `body`. `field_type` gives the type of
/// a field of the record by its name, when known; an `xsi:type` on a field
/// element comes first, and a field of no known type is typed by its form.
pub fn parse(
    body: &[u8],
    field_type: &dyn Fn(&str) -> Option<FieldType>,
) -> Result<Message, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut parser = Parser {
        source: text,
        field_type,
        path: Vec::new(),
        reading: None,
        found: false,
        header: Header::default(),
        notifications: Vec::new(),
        current: None,
    };
    loop {
        let malformed = |error: quick_xml::Error, reader: &NsReader<&[u8]>| ParseError::Malformed {
            position: reader.error_position(),
            message: error.to_string(),
        };
        let at = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        match reader.read_event() {
            Ok(Event::Start(start)) => parser.start(&reader, &start, at)?,
            Ok(Event::End(_)) => {
                let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                parser.end(end)?
            }
            Ok(Event::Text(text)) => parser.text(&text.xml10_content()),
            Ok(Event::CData(data)) => parser.text(&data.xml10_content()),
            Ok(Event::GeneralRef(reference)) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(character)) => character.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&reference)
                        .ok_or_else(|| ParseError::UndefinedEntity(reference.to_string()))?
                        .to_owned(),
                    Err(error) => return Err(malformed(error, &reader)),
                };
                parser.text(&resolved);
            }
            Ok(Event::DocType(_)) => return Err(ParseError::Doctype),
            Ok(Event::Eof) => return parser.finish(),
            Ok(Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::Empty(_)) => {}
            Err(error) => return Err(malformed(error, &reader)),
        }
    }
}

/// The message's header values, as read so far.
#[derive(Default)]
struct Header {
    organization_id: Option<String>,
    action_id: Option<String>,
    session_id: Option<String>,
    enterprise_url: Option<String>,
    partner_url: Option<String>,
}

/// A value being read: which element, and its text so far.
struct Reading {
    target: Target,
    depth: usize,
    nil: bool,
    field_type: Option<FieldType>,
    text: String,
}

/// What a value being read is for.
enum Target {
    OrganizationId,
    ActionId,
    SessionId,
    EnterpriseUrl,
    PartnerUrl,
    NotificationId,
    Field(String),
}

impl Target {
    fn name(&self) -> &str {
        match self {
            Self::OrganizationId => "OrganizationId",
            Self::ActionId => "ActionId",
            Self::SessionId => "SessionId",
            Self::EnterpriseUrl => "EnterpriseUrl",
            Self::PartnerUrl => "PartnerUrl",
            Self::NotificationId => "Id",
            Self::Field(name) => name,
        }
    }
}

/// A notification being read.
struct Current {
    /// Where its element starts in the message.
    start: usize,
    id: Option<String>,
    sobject_type: Option<String>,
    record: Map<String, Value>,
}

struct Parser<'a> {
    /// The message's text.
    source: &'a str,
    field_type: &'a dyn Fn(&str) -> Option<FieldType>,
    /// The local names of the open elements.
    path: Vec<String>,
    reading: Option<Reading>,
    /// Whether the `notifications` element was found.
    found: bool,
    header: Header,
    notifications: Vec<Notification>,
    current: Option<Current>,
}

impl Parser<'_> {
    /// An element opens at byte `at` of the message.
    fn start(
        &mut self,
        reader: &NsReader<&[u8]>,
        start: &BytesStart<'_>,
        at: usize,
    ) -> Result<(), ParseError> {
        if let Some(reading) = &self.reading {
            return Err(ParseError::NestedValue(reading.target.name().to_owned()));
        }
        if self.path.len() == MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        self.path.push(start.local_name().as_ref().to_owned());
        let path: Vec<&str> = self.path.iter().map(String::as_str).collect();
        let target = match path.as_slice() {
            ["Envelope"] | ["Envelope", "Header", ..] | ["Envelope", "Body"] => None,
            [root] => {
                return Err(ParseError::NotOutboundMessage(format!(
                    "the root element is <{root}>, not a SOAP Envelope"
                )));
            }
            [_, other] => {
                return Err(ParseError::NotOutboundMessage(format!(
                    "the SOAP Envelope holds <{other}>, not a Body"
                )));
            }
            [_, _, "notifications"] => {
                self.found = true;
                None
            }
            [_, _, other] => {
                return Err(ParseError::NotOutboundMessage(format!(
                    "the SOAP Body holds <{other}>, not an Outbound Message's <notifications>"
                )));
            }
            [_, _, _, "OrganizationId"] => Some(Target::OrganizationId),
            [_, _, _, "ActionId"] => Some(Target::ActionId),
            [_, _, _, "SessionId"] => Some(Target::SessionId),
            [_, _, _, "EnterpriseUrl"] => Some(Target::EnterpriseUrl),
            [_, _, _, "PartnerUrl"] => Some(Target::PartnerUrl),
            [_, _, _, "Notification"] => {
                if self.notifications.len() == MAX_NOTIFICATIONS {
                    return Err(ParseError::TooManyNotifications);
                }
                self.current = Some(Current {
                    start: at,
                    id: None,
                    sobject_type: None,
                    record: Map::new(),
                });
                None
            }
            [_, _, _, "Notification", "Id"] => Some(Target::NotificationId),
            [_, _, _, "Notification", "sObject"] => {
                let sobject_type = xsi_attribute(reader, start, "type")
                    .map(|value| after_prefix(&value).to_owned());
                if let Some(current) = &mut self.current {
                    current.sobject_type = sobject_type;
                }
                None
            }
            [_, _, _, "Notification", "sObject", field] => Some(Target::Field((*field).to_owned())),
            _ => None,
        };
        let Some(target) = target else {
            return Ok(());
        };
        let nil =
            xsi_attribute(reader, start, "nil").is_some_and(|nil| nil == "true" || nil == "1");
        let declared = xsi_attribute(reader, start, "type")
            .and_then(|value| FieldType::from_xsd(after_prefix(&value)));
        let field_type = match &target {
            Target::Field(name) => declared.or_else(|| (self.field_type)(name)),
            _ => Some(FieldType::Text),
        };
        self.reading = Some(Reading {
            target,
            depth: self.path.len(),
            nil,
            field_type,
            text: String::new(),
        });
        Ok(())
    }

    fn text(&mut self, text: &str) {
        if let Some(reading) = &mut self.reading {
            reading.text.push_str(text);
        }
    }

    /// An element closes before byte `end` of the message.
    fn end(&mut self, end: usize) -> Result<(), ParseError> {
        let depth = self.path.len();
        if let Some(reading) = self.reading.take_if(|reading| reading.depth == depth) {
            self.keep(reading);
        } else if depth == 4 && self.path[3] == "Notification" && self.path[1] == "Body" {
            let current = self.current.take();
            let Some(current) = current else {
                return Ok(());
            };
            let id = current
                .id
                .ok_or(ParseError::Missing("Id in a Notification"))?;
            self.notifications.push(Notification {
                id,
                sobject_type: current.sobject_type,
                record: current.record,
                xml: self
                    .source
                    .get(current.start..end)
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        self.path.pop();
        Ok(())
    }

    /// Stores a value read whole.
    fn keep(&mut self, value: Reading) {
        let text = || Some(value.text.trim().to_owned()).filter(|text| !text.is_empty());
        let header = &mut self.header;
        match value.target {
            Target::OrganizationId => header.organization_id = text(),
            Target::ActionId => header.action_id = text(),
            Target::SessionId => header.session_id = text().filter(|_| !value.nil),
            Target::EnterpriseUrl => header.enterprise_url = text(),
            Target::PartnerUrl => header.partner_url = text(),
            Target::NotificationId => {
                if let Some(current) = &mut self.current {
                    current.id = text();
                }
            }
            Target::Field(name) => {
                let json = if value.nil {
                    Value::Null
                } else {
                    typed(value.text, value.field_type)
                };
                if let Some(current) = &mut self.current {
                    current.record.insert(name, json);
                }
            }
        }
    }

    fn finish(self) -> Result<Message, ParseError> {
        if let Some(open) = self.path.last() {
            return Err(ParseError::Unfinished(open.clone()));
        }
        if !self.found {
            return Err(ParseError::Missing(
                "<notifications> element in a SOAP Body",
            ));
        }
        let header = self.header;
        Ok(Message {
            organization_id: header
                .organization_id
                .ok_or(ParseError::Missing("OrganizationId"))?,
            action_id: header.action_id,
            session_id: header.session_id,
            enterprise_url: header.enterprise_url,
            partner_url: header.partner_url,
            notifications: self.notifications,
        })
    }
}

/// The value of the `xsi:<local>` attribute of `start`: bound to the XML
/// Schema instance namespace, or written with the usual `xsi` prefix by a
/// sender that forgot to declare it.
fn xsi_attribute(reader: &NsReader<&[u8]>, start: &BytesStart<'_>, local: &str) -> Option<String> {
    if start.attributes_raw().is_empty() {
        return None;
    }
    start.attributes().flatten().find_map(|attribute| {
        let (namespace, name) = reader.resolver().resolve_attribute(attribute.key);
        let is_xsi = match namespace {
            ResolveResult::Bound(namespace) => namespace.as_ref() == XSI,
            _ => attribute
                .key
                .prefix()
                .is_some_and(|prefix| prefix.as_ref() == "xsi"),
        };
        (is_xsi && name.as_ref() == local).then(|| {
            attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|value| value.trim().to_owned())
                .unwrap_or_default()
        })
    })
}

/// `Opportunity` for `sf:Opportunity`.
fn after_prefix(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}
