// Sockets and Beast streams bound to their event loop's own executor type, for the networking
// sources only. Asio's default, the type-erased any_io_executor, is copied, moved and destroyed
// several times by every asynchronous operation; on the media path that came to ~2,000
// instructions per forwarded frame (callgrind), where the loop's executor is a pointer.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace callproxy::net {

using LoopExecutor = boost::asio::io_context::executor_type;
using LoopSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, LoopExecutor>;
using LoopTcpStream = boost::beast::basic_stream<boost::asio::ip::tcp, LoopExecutor>;
// A stream socket of any family (TCP, or a Unix socket for unix: backends). A TCP socket moves
// into one as it is (Asio's converting move: no system call, the reactor's registration kept).
using LoopStreamSocket = boost::asio::basic_stream_socket<boost::asio::generic::stream_protocol, LoopExecutor>;

}  // namespace callproxy::net
