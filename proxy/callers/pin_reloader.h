// SIGHUP's reload of the pins file, off the event loops. The signal is handled on event loop 0,
// which also accepts every connection: a file that is slow to read (a large one, a network file
// system) must not hold up connections or later signals there. So the file is read and parsed on
// a thread of its own (one per reload; SIGHUP is rare), and the set it made is handed back to the
// loop, which puts it in place and logs it. A bad file keeps the set in use, and the log says why.
#pragma once

#include <functional>
#include <thread>

#include "proxy/callers/pin_directory.h"

namespace callproxy::proxy {

class PinReloader {
 public:
  // Runs a task on the loop that asks for reloads (asio::post to it, in serve).
  using PostToLoop = std::function<void(std::function<void()>)>;

  // `pins` must outlive the reloader.
  PinReloader(PinDirectory& pins, PostToLoop post_to_loop);
  // Waits for a reload still reading (its result, posted to the loop, is never installed once
  // the loop has stopped). Destroy the reloader after the loop has stopped and before it is gone.
  ~PinReloader();
  PinReloader(const PinReloader&) = delete;
  PinReloader& operator=(const PinReloader&) = delete;

  // On the loop: reads the file again. One asked for while another reads runs after it, once,
  // however many were asked for meanwhile (the file may have changed after the running one read it).
  void request();

 private:
  void start();                                                           // on the loop
  void finish(Result<std::shared_ptr<const PinDirectory::PinSet>> read);  // on the loop

  PinDirectory& pins_;
  PostToLoop post_to_loop_;
  std::thread reading_;   // the current reload's, or the last one's (ended, not yet joined)
  bool running_ = false;  // a reload is reading (loop only)
  bool again_ = false;    // one more was asked for meanwhile (loop only)
};

}  // namespace callproxy::proxy
