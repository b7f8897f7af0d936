//! The P1 port of a Dutch smart meter (DSMR 2.2 to 5.0, ESMR 5): the grid meter of
//! record, whose import and export registers the supplier settles on. Bytes from the
//! port are cut into telegrams ([`frame`]), each checked before anything is read from
//! it ([`telegram`]); a damaged one is counted and dropped, never booked.

pub mod device;
pub mod frame;
pub mod homewizard;
pub mod points;
pub mod source;
pub mod telegram;

pub use frame::{Frame, Framer};
pub use source::{Counts, Dropped, Event, Source};
pub use telegram::{Reading, Telegram, TelegramError};
