-- scripts/bench/s3/put.lua - wrk script of scripts/bench/s3.sh: PUT a 4 KiB body to the
-- (presigned) URL given on the command line, over and over.
wrk.method = "PUT"
wrk.body = string.rep("x", 4096)
