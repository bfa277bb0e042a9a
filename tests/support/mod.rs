//! Test support shared by the town tests.
#![allow(dead_code)]

pub mod standin;
pub mod mayor;
pub mod town;
pub mod rooms;
