pub(crate) mod block;
pub(crate) mod done_queue;
pub(crate) mod ready;
pub(crate) mod wait;
