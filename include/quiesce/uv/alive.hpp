#pragma once
// Lets a callback that outlives its owner (a Redis reply for a probe that
// was closed meanwhile) find out that the owner is gone, instead of using
// it. The owner holds an AliveToken; each callback captures a Witness.
#include <memory>

namespace quiesce::uv {

class AliveToken {
 public:
  class Witness {
   public:
    bool gone() const { return token_.expired(); }

   private:
    friend class AliveToken;
    explicit Witness(std::weak_ptr<const char> token) : token_(std::move(token)) {}
    std::weak_ptr<const char> token_;
  };

  Witness witness() const { return Witness{token_}; }

 private:
  std::shared_ptr<const char> token_ = std::make_shared<const char>('\0');
};

}  // namespace quiesce::uv
