# quiesce_subsystem(NAME MAY_USE folder... LIBS target... SYSTEM lib...)
#
# Builds src/NAME/*.cpp as the library quiesce_NAME. Its sources see
# include/quiesce/<folder>/ only for the folders named in MAY_USE, and the
# system headers of only the libraries named in SYSTEM (libuv, hiredis,
# openssl, toml, yaml); any other is shadowed by a generated header whose #error
# names the rule it breaks. Shadows come first on the include path, so they
# win over the real headers, which every folder's include/ still holds.

set(QUIESCE_FOLDERS core procfs log uv redis sidekiq config control pid1)
set(QUIESCE_SYSTEM_HEADERS_libuv uv.h)
set(QUIESCE_SYSTEM_HEADERS_hiredis hiredis/hiredis.h hiredis/read.h)
set(QUIESCE_SYSTEM_HEADERS_openssl openssl/ssl.h openssl/err.h openssl/x509v3.h)
set(QUIESCE_SYSTEM_HEADERS_toml toml++/toml.h toml++/toml.hpp)
set(QUIESCE_SYSTEM_HEADERS_yaml yaml.h)
set(QUIESCE_SYSTEM_HEADERS_httpparser http_parser.h)
# Headers whose only use is a system call: the pure core may not have them.
# (unistd.h is not among them: libstdc++ includes it for its own use.)
set(QUIESCE_SYSTEM_HEADERS_syscalls fcntl.h dirent.h sys/socket.h sys/signalfd.h
    sys/prctl.h sys/stat.h termios.h)

function(quiesce_shadow dir header why)
  set(path ${dir}/${header})
  get_filename_component(parent ${path} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  file(WRITE ${path}.new "#error \"${why}\"\n")
  file(COPY_FILE ${path}.new ${path} ONLY_IF_DIFFERENT)
  file(REMOVE ${path}.new)
endfunction()

function(quiesce_subsystem name)
  cmake_parse_arguments(ARG "" "" "MAY_USE;LIBS;SYSTEM" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  add_library(quiesce_${name} STATIC ${sources})
  target_include_directories(quiesce_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(quiesce_${name} PUBLIC ${ARG_LIBS})

  set(shadow ${CMAKE_BINARY_DIR}/layering/${name})
  file(REMOVE_RECURSE ${shadow})
  foreach(folder ${QUIESCE_FOLDERS})
    if(folder IN_LIST ARG_MAY_USE)
      continue()
    endif()
    file(GLOB headers RELATIVE ${PROJECT_SOURCE_DIR}/include
         ${PROJECT_SOURCE_DIR}/include/quiesce/${folder}/*.hpp)
    foreach(header ${headers})
      quiesce_shadow(${shadow} ${header} "src/${name}/ may not use ${folder}/ (docs/architecture.md)")
    endforeach()
  endforeach()
  set(system libuv hiredis openssl toml yaml httpparser)
  if(name STREQUAL "core")
    list(APPEND system syscalls)
  endif()
  foreach(lib ${system})
    if(lib IN_LIST ARG_SYSTEM)
      continue()
    endif()
    foreach(header ${QUIESCE_SYSTEM_HEADERS_${lib}})
      quiesce_shadow(${shadow} ${header} "src/${name}/ may not use ${header} (docs/architecture.md)")
    endforeach()
  endforeach()
  target_include_directories(quiesce_${name} BEFORE PRIVATE ${shadow})
endfunction()
