// SPDX-License-Identifier: Apache-2.0
// Email alerts ("mailers" sections, "email-alert" in proxies), as HAProxy
// sends them: when a server's state changes, one short SMTP session per
// mailer (EHLO, MAIL FROM, RCPT TO, DATA with the event's log line as
// subject and body, QUIT), bounded by the mailers' "timeout mail". Runs on
// the control thread's loop; a mail that cannot be delivered is logged,
// never retried.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/address.h"
#include "event/loop.h"

namespace sluice::observe {

struct MailRecipe {
  std::vector<core::Address> mailers;
  uint32_t timeoutMs = 10000;
  std::string from;
  std::string to;
  std::string hostname;                    // EHLO's argument
  int level = 1;                           // alert: events at this level or more severe
  std::string proxy;                       // for messages about failed deliveries
};

class MailAlerts {
 public:
  using Log = std::function<void(int level, const std::string& message)>;
  MailAlerts(event::EventLoop& loop, Log log);
  ~MailAlerts();

  // Mails `message` (an event logged at `level`) when the recipe wants it.
  void send(const MailRecipe& recipe, int level, const std::string& message);
  size_t inFlight() const { return deliveries_.size(); }
  // Abandons every delivery (the process stops).
  void stop();

 private:
  class Delivery;
  friend class Delivery;
  void finished(Delivery* d);

  event::EventLoop& loop_;
  Log log_;
  std::vector<std::unique_ptr<Delivery>> deliveries_;
};

}  // namespace sluice::observe
