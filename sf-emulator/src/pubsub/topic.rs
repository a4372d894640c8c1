//! Topic names: `/data/ChangeEvents` (every object's change events),
//! `/data/<Entity>ChangeEvent` (one object's; `Employee__ChangeEvent` for
//! `Employee__c`) and `/event/<Name>__e` (a platform event).

use super::bus::BusEvent;
use crate::schema::Schema;

/// A topic of the org's bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// Every object's change events.
    AllChanges,
    /// The change events of one object.
    Changes(String),
    /// A platform event.
    Event(String),
}

impl Topic {
    /// The topic named `name` in `schema`, if there is one.
    pub fn find(schema: &Schema, name: &str) -> Option<Self> {
        if name == "/data/ChangeEvents" {
            return Some(Self::AllChanges);
        }
        if let Some(entity) = name.strip_prefix("/data/") {
            let object = match entity.strip_suffix("__ChangeEvent") {
                Some(base) => format!("{base}__c"),
                None => entity.strip_suffix("ChangeEvent")?.to_owned(),
            };
            let object = schema.object(&object)?;
            // Topic names are case-sensitive.
            let exact = super::layout::change_event_name(&object.name);
            return (!object.is_platform_event() && entity == exact)
                .then(|| Self::Changes(object.name.clone()));
        }
        let event = name.strip_prefix("/event/")?;
        let object = schema.object(event)?;
        (object.is_platform_event() && object.name == event).then(|| Self::Event(event.to_owned()))
    }

    /// The object whose schema the topic's events are written with, when
    /// they all share one.
    pub fn object(&self) -> Option<&str> {
        match self {
            Self::AllChanges => None,
            Self::Changes(object) | Self::Event(object) => Some(object),
        }
    }

    /// Whether `event` is one of the topic's.
    pub fn carries(&self, event: &BusEvent) -> bool {
        match self {
            Self::AllChanges => event.change,
            Self::Changes(object) => event.change && event.entity == *object,
            Self::Event(object) => !event.change && event.entity == *object,
        }
    }
}
