pub mod pychars;
pub mod sentences;
