//! Device profiles as data: the schema, loading (embedded + directory override),
//! validation, and the block planner.

pub mod load;
pub mod planner;
pub mod schema;

pub use load::{FoundModel, Profile, ProfileError, ProfileSet};
pub use planner::{Block, plan, plan_tiers};
pub use schema::{DeviceKind, PointDef, ResolvedProfile, Role, Sign};
