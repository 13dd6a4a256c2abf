pub mod associate;
pub mod disassociate;
