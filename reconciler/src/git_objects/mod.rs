//! Git objects written in-process: new objects as one pack or as loose objects
//! (`object_pack`; the pack and its index are written directly by `pack_file`, with the
//! checksums of `pack_sums`, and loose objects by `loose`), and objects copied between two
//! repositories on this machine (`copy`), which both the fetch of a local repository and the
//! status push to one use.

mod copy;
mod loose;
mod object_pack;
mod pack_file;
mod pack_sums;

pub(crate) use copy::copy_objects;
pub(crate) use object_pack::{NewObjects, object_id};
pub(crate) use pack_file::temp_path;
